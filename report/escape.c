/*
 * escape.c: untrusted strings into JSON and XML/HTML (escape.h).
 *
 * One decoder (pt_utf8_next) decides what is a character; both writers
 * walk the string with it, so a string is split into the same characters
 * whichever format it goes to, and an invalid byte is always exactly one
 * U+FFFD. Plain ASCII is written a byte at a time through putc: the
 * renderers' outputs are a few MiB at most.
 */
#include "report/escape.h"

#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

size_t pt_utf8_next(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c, min;
	size_t len;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

size_t pt_utf8_count(const char *s)
{
	size_t n = strlen(s), count = 0;
	uint32_t cp;

	while (n) {
		size_t k = pt_utf8_next(s, n, &cp);

		if (!k)
			k = 1;
		s += k;
		n -= k;
		count++;
	}
	return count;
}

char *pt_utf8_sanitize(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *r = malloc(n * 3 + 1); /* each invalid byte grows to 3 */
	uint32_t cp;

	if (!r)
		return NULL;
	while (n) {
		size_t k = pt_utf8_next(s, n, &cp);

		if (k) {
			memcpy(r + o, s, k);
			o += k;
		} else {
			memcpy(r + o, REPLACEMENT, 3);
			o += 3;
			k = 1;
		}
		s += k;
		n -= k;
	}
	r[o] = '\0';
	return r;
}

void pt_esc_json(FILE *out, const char *s)
{
	pt_esc_json_n(out, s, strlen(s));
}

void pt_esc_json_n(FILE *out, const char *s, size_t n)
{
	uint32_t cp;

	putc('"', out);
	while (n) {
		size_t k = pt_utf8_next(s, n, &cp);

		if (!k) {
			fputs("\\ufffd", out);
			k = 1;
		} else if (cp == '"') {
			fputs("\\\"", out);
		} else if (cp == '\\') {
			fputs("\\\\", out);
		} else if (cp == '\n') {
			fputs("\\n", out);
		} else if (cp == '\r') {
			fputs("\\r", out);
		} else if (cp == '\t') {
			fputs("\\t", out);
		} else if (cp < 0x20 || cp == 0x7f || cp == '<' || cp == '>' ||
			   cp == '&' || cp == '\'' || cp == 0x2028 ||
			   cp == 0x2029) {
			fprintf(out, "\\u%04x", (unsigned)cp);
		} else {
			fwrite(s, 1, k, out);
		}
		s += k;
		n -= k;
	}
	putc('"', out);
}

void pt_esc_xml_n(FILE *out, const char *s, size_t max)
{
	size_t n = strlen(s);
	uint32_t cp;

	while (n && max) {
		size_t k = pt_utf8_next(s, n, &cp);

		if (!k) {
			fputs(REPLACEMENT, out);
			k = 1;
		} else if (cp == '&') {
			fputs("&amp;", out);
		} else if (cp == '<') {
			fputs("&lt;", out);
		} else if (cp == '>') {
			fputs("&gt;", out);
		} else if (cp == '"') {
			fputs("&quot;", out);
		} else if (cp == '\'') {
			fputs("&#39;", out);
		} else if (cp == '\t' || cp == '\n' || cp == '\r') {
			fprintf(out, "&#%u;", (unsigned)cp);
		} else if (cp < 0x20 || cp == 0x7f || cp == 0xfffe ||
			   cp == 0xffff) {
			fputs(REPLACEMENT, out);
		} else {
			fwrite(s, 1, k, out);
		}
		s += k;
		n -= k;
		max--;
	}
}

void pt_esc_xml(FILE *out, const char *s)
{
	pt_esc_xml_n(out, s, SIZE_MAX);
}
