/*
 * format.h: the peaktrace trace format, shared by the runtime's encoder
 * (core/encoder.c) and the reporter's decoder (report/decoder.c). It is the
 * ONE definition of the bytes on disk; docs/FORMAT.md is its specification
 * in prose, and the two must agree.
 *
 * A trace is a 16-byte file header followed by self-delimiting chunks:
 *
 *   file header  "PEAKTRC\0" | u16 version (=1) | u16 flags | u32 reserved
 *   chunk        "PTCK" | u32 payload length | u32 CRC32C(payload) | u32 seq
 *                | payload
 *   payload      records: u8 type | varint body_len | body[body_len]
 *
 * Integers in headers are little-endian; record fields are unsigned LEB128
 * varints (at most 10 bytes), strings are varint length + bytes, and the
 * address fields of ALLOC and FREE are zigzag deltas against the previous
 * such address in the same chunk (0 at each chunk start), so every chunk
 * decodes on its own.
 *
 * Invariants both sides rely on:
 *  - a chunk payload is at most PT_FMT_MAX_CHUNK bytes; a string at most
 *    PT_FMT_MAX_STRING bytes; a stack at most PT_FMT_MAX_FRAMES frames;
 *  - a record never spans chunks;
 *  - fields are appended to a record's body in later versions, never
 *    reordered or removed: a decoder ignores bytes past the fields it knows.
 *
 * Everything here is static inline, pure, allocation-free and
 * async-signal-safe, so the runtime may call it from anywhere.
 */
#ifndef PEAKTRACE_FORMAT_H
#define PEAKTRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- file and chunk framing ------------------------------------------ */

#define PT_FMT_MAGIC "PEAKTRC"          /* 8 bytes on disk, with its NUL */
#define PT_FMT_MAGIC_LEN 8
#define PT_FMT_VERSION 1                /* the version this code writes and reads */
#define PT_FMT_FILE_HEADER_LEN 16

#define PT_FMT_CHUNK_MAGIC "PTCK"       /* 4 bytes on disk, no NUL */
#define PT_FMT_CHUNK_MAGIC_LEN 4
#define PT_FMT_CHUNK_HEADER_LEN 16

#define PT_FMT_MAX_CHUNK (16u << 20)    /* payload bytes; larger is corrupt */
#define PT_FMT_MAX_STRING (1u << 20)    /* bytes of one string */
#define PT_FMT_MAX_FRAMES 1024u         /* frames of one stack */
#define PT_FMT_MAX_BUILD_ID 64u         /* bytes of a MODULE's build-id */
#define PT_FMT_VARINT_MAX 10            /* bytes of one varint */

/* ---- record types ------------------------------------------------------ */

/* Codes are stable forever; new types take new codes. 0 is never written. */
enum pt_rec_type {
	PT_REC_HEADER = 1,
	PT_REC_STRING = 2,
	PT_REC_MODULE = 3,
	PT_REC_PYFRAME = 4,
	PT_REC_STACK = 5,
	PT_REC_ALLOC = 6,
	PT_REC_FREE = 7,
	PT_REC_TICK = 8,
	PT_REC_PEAK = 9,
	PT_REC_THREAD = 10,
	PT_REC_TRIP = 11,
	PT_REC_DROPS = 12,
	PT_REC_END = 13,
	PT_REC__MAX = 13, /* highest code this version knows */
};

/* Lower-case name of a known type ("alloc"), or NULL. */
static inline const char *pt_rec_type_name(unsigned type)
{
	static const char *const names[] = {
		NULL, "header", "string", "module", "pyframe", "stack",
		"alloc", "free", "tick", "peak", "thread", "trip", "drops",
		"end",
	};
	return type <= PT_REC__MAX ? names[type] : NULL;
}

/* HEADER.mode */
enum pt_mode {
	PT_MODE_SAMPLED = 0,
	PT_MODE_EXACT = 1,
};

/* ---- stack frames ------------------------------------------------------ */

/* A frame is one u64: a native instruction pointer as ip << 1 (so native
 * IPs must be below 2^63, true of every user-space address on Linux), a
 * Python frame as (pyframe_id << 1) | 1. Frames are innermost first. */
#define PT_FRAME_NATIVE(ip) ((uint64_t)(ip) << 1)
#define PT_FRAME_PY(pyframe_id) (((uint64_t)(pyframe_id) << 1) | 1u)
static inline bool pt_frame_is_py(uint64_t f)
{
	return (f & 1u) != 0;
}
/* The IP of a native frame or the pyframe id of a Python frame. */
static inline uint64_t pt_frame_value(uint64_t f)
{
	return f >> 1;
}

/* ---- records ----------------------------------------------------------- */

/* A byte string. From the decoder, p[len] == '\0' (the bytes themselves may
 * hold NULs and need not be UTF-8); for the encoder no NUL is needed. */
struct pt_str {
	const char *p;  /* len bytes; never NULL when len > 0 */
	uint32_t len;   /* bytes, <= PT_FMT_MAX_STRING */
};

/* Ids: strings, modules, pyframes and stacks have four separate id spaces,
 * assigned by the writer from 1 upwards; id 0 means "none" and is never
 * defined by a record. A definition comes before any use in the file, but
 * possibly in an earlier chunk (which may be lost to corruption). */

struct pt_rec_header {          /* first record of a trace */
	uint32_t format_version;    /* PT_FMT_VERSION */
	uint32_t pid, ppid;
	uint64_t start_unix_ns;     /* wall clock at start, ns since the epoch */
	uint32_t mode;              /* enum pt_mode */
	uint64_t sample_bytes;      /* mean sampling interval, bytes; 0 in exact mode */
	uint64_t page_size;         /* bytes */
	struct pt_str python_version; /* "3.12.1", or empty for a native program */
	struct pt_str cmdline;      /* argv joined by spaces (NULs replaced) */
	struct pt_str exe;          /* /proc/self/exe at start */
};

struct pt_rec_string {          /* defines string id */
	uint32_t id;                /* >= 1 */
	struct pt_str s;
};

struct pt_rec_module {          /* one loaded ELF object */
	uint32_t id;                /* >= 1 */
	uint32_t path_string_id;    /* its path */
	uint64_t load_bias;         /* runtime address - ELF virtual address */
	uint64_t start, end;        /* [start, end): span of its PT_LOAD segments */
	struct pt_str build_id;     /* GNU build-id bytes; empty when none
				       (or written by an older runtime) */
};

struct pt_rec_pyframe {         /* one Python code location */
	uint32_t id;                /* >= 1 */
	uint32_t function_string_id;
	uint32_t file_string_id;
	uint32_t line;              /* 1-based; 0 = unknown */
};

struct pt_rec_stack {           /* defines stack id */
	uint32_t id;                /* >= 1 */
	uint32_t n;                 /* frames, <= PT_FMT_MAX_FRAMES */
	const uint64_t *frames;     /* n frames, innermost first, PT_FRAME_* */
};

struct pt_rec_alloc {           /* a sampled (or, in exact mode, every) allocation */
	uint32_t tid;               /* Linux thread id */
	uint64_t addr;              /* address returned to the program */
	uint64_t size;              /* requested bytes */
	uint64_t weight;            /* bytes the sample stands for; == size in exact mode */
	uint32_t stack_id;          /* 0 = no stack captured */
};

struct pt_rec_free {            /* free of an address a previous ALLOC recorded */
	uint64_t addr;
};

struct pt_rec_tick {            /* memory totals for the timeline */
	uint64_t t_ns;              /* since HEADER.start_unix_ns */
	uint64_t heap_bytes;        /* live heap bytes, exact */
	uint64_t mapped_bytes;      /* bytes of mmap'd regions the program made */
	uint64_t peak_bytes;        /* highest heap_bytes so far */
};

struct pt_rec_peak {            /* a new peak; see docs/FORMAT.md, "the peak rule" */
	uint64_t t_ns;
	uint64_t bytes;
};

struct pt_rec_thread {          /* a thread's name */
	uint32_t tid;
	struct pt_str name;
};

struct pt_rec_trip {            /* the kill-switch tripped: profiling stopped */
	struct pt_str reason;
};

struct pt_rec_drops {           /* events lost because the writer fell behind */
	uint64_t total;             /* cumulative since start */
};

struct pt_rec_end {             /* last record of a trace that ended cleanly */
	uint64_t t_ns;
	uint64_t peak_bytes;
	uint64_t peak_t_ns;
	uint64_t total_allocs;      /* allocations (all, not only sampled) */
	uint64_t total_alloc_bytes; /* requested bytes of all allocations */
};

/* A record as the decoder returns it (and pt_enc_rec takes it). */
struct pt_rec {
	uint8_t type;               /* enum pt_rec_type */
	uint32_t chunk_seq;         /* sequence number of the chunk it came from */
	union {
		struct pt_rec_header header;
		struct pt_rec_string string;
		struct pt_rec_module module;
		struct pt_rec_pyframe pyframe;
		struct pt_rec_stack stack;
		struct pt_rec_alloc alloc;
		struct pt_rec_free free;
		struct pt_rec_tick tick;
		struct pt_rec_peak peak;
		struct pt_rec_thread thread;
		struct pt_rec_trip trip;
		struct pt_rec_drops drops;
		struct pt_rec_end end;
	} u;
};

/* ---- little-endian fixed-width integers -------------------------------- */

static inline void pt_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void pt_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint16_t pt_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t pt_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* ---- varints (unsigned LEB128) and zigzag ------------------------------ */

/* Bytes pt_varint_put writes for v: 1..10. */
static inline size_t pt_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at out (room for pt_varint_len(v) bytes); returns the count. */
static inline size_t pt_varint_put(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* Reads one varint from p[0..avail). Returns the bytes consumed (1..10), or
 * 0 when it is cut short by avail, longer than 10 bytes, or does not fit in
 * 64 bits (a 10th byte above 1). Overlong forms (trailing 0x80 groups) that
 * fit are accepted. *v is set only on success. */
static inline size_t pt_varint_get(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < avail && i < PT_FMT_VARINT_MAX; i++) {
		uint8_t b = p[i];

		if (i == PT_FMT_VARINT_MAX - 1 && b > 1)
			return 0;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* Zigzag maps signed to unsigned so small magnitudes stay small:
 * 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3 ... (two's complement, no UB). */
static inline uint64_t pt_zigzag_enc(uint64_t v)
{
	return (v << 1) ^ (0 - (v >> 63));
}
static inline uint64_t pt_zigzag_dec(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

/* The address-delta rule: an address field is written as
 * pt_zigzag_enc(addr - prev) with wrap-around (mod 2^64) arithmetic, and
 * read back as prev + pt_zigzag_dec(z); prev is the previous address field
 * of the same chunk, 0 at the chunk's start. */
static inline uint64_t pt_addr_delta_enc(uint64_t addr, uint64_t prev)
{
	return pt_zigzag_enc(addr - prev);
}
static inline uint64_t pt_addr_delta_dec(uint64_t z, uint64_t prev)
{
	return prev + pt_zigzag_dec(z);
}

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) -------------- */

/* Standard CRC-32C as in iSCSI/ext4: init 0xFFFFFFFF, final xor
 * 0xFFFFFFFF. pt_crc32c(0, "123456789", 9) == 0xE3069283. Pass the previous
 * result as crc to continue over more bytes. */
static const uint32_t pt_crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/* Byte at a time, any machine. */
static inline uint32_t pt_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;

	crc = ~crc;
	while (len--)
		crc = pt_crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <string.h>

/* SSE 4.2's crc32 instruction computes CRC32C itself, 8 bytes at a time:
 * an eighth of the table loop's instructions (the writer seals every
 * chunk, the decoder checks every one). */
__attribute__((target("sse4.2"))) static inline uint32_t
pt_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint64_t c = (uint32_t)~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}

/* 1 when the CPU has SSE 4.2 (cpuid leaf 1, ecx bit 20), asked once. */
static inline int pt_crc32c_has_hw(void)
{
	static int has = -1; /* racing first callers store the same value */
	int h = __atomic_load_n(&has, __ATOMIC_RELAXED);
	if (h < 0) {
		unsigned a, b, c, d;
		h = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 20));
		__atomic_store_n(&has, h, __ATOMIC_RELAXED);
	}
	return h;
}

static inline uint32_t pt_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return pt_crc32c_has_hw() ? pt_crc32c_hw(crc, buf, len)
				  : pt_crc32c_sw(crc, buf, len);
}
#else
static inline uint32_t pt_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return pt_crc32c_sw(crc, buf, len);
}
#endif

#endif
