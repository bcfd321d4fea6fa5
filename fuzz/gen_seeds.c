/*
 * gen_seeds.c: writes the decoder fuzzers' seed corpus with the real
 * encoder, so the seeds are traces the runtime could have written (plus
 * the damaged variants the decoder must tolerate). Small on purpose: the
 * fuzzers mutate them, and test_decoder replays them on every test run.
 *
 *     fuzz_gen_seeds DIR      (writes DIR/NAME.ptrace; the committed corpus is
 *                              fuzz/corpus, regenerate it with this)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoder.h"
#include "peaktrace/format.h"

struct out {
	uint8_t data[1 << 16];
	size_t len;
	uint8_t payload[4096];
	struct pt_enc e;
	uint32_t seq;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > sizeof o->data) {
		fprintf(stderr, "gen_seeds: seed too large\n");
		exit(1);
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

static void start(struct out *o)
{
	uint8_t h[PT_FMT_FILE_HEADER_LEN];

	o->len = 0;
	o->seq = 0;
	pt_enc_file_header(h);
	put(o, h, sizeof h);
	pt_enc_init(&o->e, o->payload, sizeof o->payload);
}

static void flush(struct out *o)
{
	uint8_t h[PT_FMT_CHUNK_HEADER_LEN];

	pt_chunk_seal(h, o->payload, o->e.len, o->seq++);
	put(o, h, sizeof h);
	put(o, o->payload, o->e.len);
	pt_enc_init(&o->e, o->payload, sizeof o->payload);
}

static void check(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "gen_seeds: encoder failed: %s\n", strerror(-rc));
		exit(1);
	}
}

static void save(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: cannot write '%s': %s\n", path,
			strerror(errno));
		exit(1);
	}
}

static void header(struct out *o, uint32_t mode, const char *py,
		   const char *cmd)
{
	struct pt_rec_header h = {
		.format_version = PT_FMT_VERSION,
		.pid = 4242, .ppid = 4241,
		.start_unix_ns = 1700000000000000000ull,
		.mode = mode,
		.sample_bytes = mode == PT_MODE_EXACT ? 0 : 524288,
		.page_size = 4096,
		.python_version = { py, (uint32_t)strlen(py) },
		.cmdline = { cmd, (uint32_t)strlen(cmd) },
		.exe = { "/usr/bin/python3", 16 },
	};
	check(pt_enc_header(&o->e, &h));
}

/* A Python job: two frames, one native stack, a peak, then frees. */
static void python_trace(struct out *o, int with_end)
{
	static const uint64_t st1[] = {
		PT_FRAME_NATIVE(0x7f1200011234ull), PT_FRAME_PY(2),
		PT_FRAME_PY(1),
	};
	static const uint64_t st2[] = {
		PT_FRAME_NATIVE(0x55d000001111ull),
		PT_FRAME_NATIVE(0x55d000002222ull),
	};

	start(o);
	header(o, PT_MODE_SAMPLED, "3.12.1", "python3 job.py --rows \"1e6\"");
	check(pt_enc_string(&o->e, 1, "main", 4));
	check(pt_enc_string(&o->e, 2, "job.py", 6));
	check(pt_enc_string(&o->e, 3, "load_rows", 9));
	check(pt_enc_string(&o->e, 4, "/usr/lib/libc.so.6", 18));
	static const uint8_t bid[20] = { 0x5e, 0x1d, 0x0b, 0x2c, 0x77, 0x01, 0x9a };
	check(pt_enc_module(&o->e, 1, 4, 0x7f1200000000ull, 0x7f1200000000ull,
			    0x7f1200200000ull, bid, sizeof bid));
	check(pt_enc_pyframe(&o->e, 1, 1, 2, 30));
	check(pt_enc_pyframe(&o->e, 2, 3, 2, 12));
	check(pt_enc_stack(&o->e, 1, st1, 3));
	check(pt_enc_stack(&o->e, 2, st2, 2));
	check(pt_enc_thread(&o->e, 100, "MainThread", 10));
	flush(o);
	check(pt_enc_alloc(&o->e, 100, 0x7f1300000010ull, 1 << 20, 1 << 20, 1));
	check(pt_enc_alloc(&o->e, 100, 0x7f1300100010ull, 64, 524288, 2));
	check(pt_enc_tick(&o->e, 1000000, 1 << 21, 1 << 22, 1 << 21));
	check(pt_enc_alloc(&o->e, 101, 0x55d000100020ull, 300000, 524288, 1));
	check(pt_enc_peak(&o->e, 1500000, 3 << 20));
	flush(o);
	check(pt_enc_free(&o->e, 0x7f1300000010ull));
	check(pt_enc_free(&o->e, 0x55d000100020ull));
	check(pt_enc_drops(&o->e, 3));
	check(pt_enc_tick(&o->e, 2000000, 1 << 20, 1 << 22, 3 << 20));
	if (with_end) {
		struct pt_rec_end e = { 2500000, 3 << 20, 1500000, 12345, 9876543 };
		check(pt_enc_end(&o->e, &e));
	}
	flush(o);
}

int main(int argc, char **argv)
{
	static struct out o;
	static uint8_t tmp[1 << 16];

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_seeds DIR\n");
		return 1;
	}
	const char *dir = argv[1];

	python_trace(&o, 1);
	save(dir, "python.ptrace", o.data, o.len);

	/* cut inside the last chunk */
	save(dir, "truncated.ptrace", o.data, o.len - 7);

	/* a flipped byte in the middle chunk's payload */
	memcpy(tmp, o.data, o.len);
	tmp[o.len / 2] ^= 0x5a;
	save(dir, "corrupt.ptrace", tmp, o.len);

	/* garbage between chunks, and no END */
	python_trace(&o, 0);
	size_t half = 0;
	for (size_t off = 16; off + 4 <= o.len; off++)
		if (off > o.len / 2 && memcmp(o.data + off, "PTCK", 4) == 0) {
			half = off;
			break;
		}
	memcpy(tmp, o.data, half);
	memcpy(tmp + half, "xPTCK\xff\xff\xff\x00garbage", 16);
	memcpy(tmp + half + 16, o.data + half, o.len - half);
	save(dir, "garbage_no_end.ptrace", tmp, o.len + 16);

	/* a native program in exact mode whose profiler tripped */
	start(&o);
	header(&o, PT_MODE_EXACT, "", "./a.out -x");
	check(pt_enc_alloc(&o.e, 7, 0x1000, 16, 16, 0));
	check(pt_enc_alloc(&o.e, 7, 0x1020, 0, 0, 0));
	check(pt_enc_free(&o.e, 0x1000));
	flush(&o); /* an empty chunk follows */
	flush(&o);
	check(pt_enc_trip(&o.e, "peaktrace: disk full", 20));
	struct pt_rec_end e = { 10, 16, 5, 2, 16 };
	check(pt_enc_end(&o.e, &e));
	flush(&o);
	save(dir, "native_exact_trip.ptrace", o.data, o.len);

	/* a record type from the future (99) and a DROPS with an extra field */
	start(&o);
	static const uint8_t future[] = { 99, 3, 'n', 'e', 'w', 12, 2, 5, 7 };
	memcpy(o.payload, future, sizeof future);
	o.e.len = sizeof future;
	check(pt_enc_end(&o.e, &e));
	flush(&o);
	save(dir, "future_record.ptrace", o.data, o.len);
	return 0;
}
