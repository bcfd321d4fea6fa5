/*
 * elfnote.h: the GNU build-id in an ELF note area (a PT_NOTE segment or a
 * .note section), for the writer's MODULE records and for tests.
 *
 * Notes are { namesz, descsz, type } words, then the name and the
 * descriptor, each padded to the area's alignment (4, or 8 for areas
 * aligned to 8, as .note.gnu.property is). Every length is checked against
 * the area: a malformed area yields "no build-id", never a read outside.
 */
#ifndef PT_ELFNOTE_H
#define PT_ELFNOTE_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copies the build-id found in the len bytes at p (aligned to align) to
 * out; returns its length, or 0 when there is none or it is longer than
 * cap. */
static inline size_t pt_note_build_id(const uint8_t *p, size_t len,
				      size_t align, uint8_t *out, size_t cap)
{
	size_t off = 0;

	if (align != 8)
		align = 4;
	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + off, sizeof nh);
		size_t name_at = off + sizeof nh;
		size_t namesz = ((size_t)nh.n_namesz + align - 1) & ~(align - 1);
		if (namesz > len - name_at)
			return 0;
		size_t desc_at = name_at + namesz;
		size_t descsz = ((size_t)nh.n_descsz + align - 1) & ~(align - 1);
		if (descsz > len - desc_at)
			return 0;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(p + name_at, "GNU", 4) == 0) {
			if (nh.n_descsz == 0 || nh.n_descsz > cap)
				return 0;
			memcpy(out, p + desc_at, nh.n_descsz);
			return nh.n_descsz;
		}
		off = desc_at + descsz;
	}
	return 0;
}

#endif
