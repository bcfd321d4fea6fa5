/*
 * escape.h: writing untrusted trace strings into text formats.
 *
 * Every string of a trace (frame names, file names, the command line,
 * kill-switch reasons) is attacker-controlled as far as a renderer is
 * concerned: it may hold quotes, angle brackets, control characters and
 * bytes that are not UTF-8. These helpers write such a string so that the
 * result is well-formed in the target format and carries no markup:
 *
 *  - JSON (pt_esc_json): a quoted string, valid UTF-8, with '<', '>', '&',
 *    U+2028 and U+2029 escaped as \uXXXX too, so the same text is safe
 *    inside an HTML <script> element (no "</script>", no "<!--").
 *  - XML / HTML (pt_esc_xml): text and attribute content with the five
 *    markup characters as entities, control characters that XML 1.0 does
 *    not allow turned into U+FFFD.
 *
 * In both, a byte that does not start a valid UTF-8 sequence (overlong
 * forms and surrogates included) becomes U+FFFD, one per byte. The
 * reporter is not runtime code (stdio and malloc are fine). Errors are
 * the stream's: callers check ferror() once at the end.
 */
#ifndef PT_ESCAPE_H
#define PT_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Decodes the UTF-8 sequence at s (at most n bytes). Returns its length
 * (1..4) and sets *cp, or returns 0 when s[0] starts no valid sequence. */
size_t pt_utf8_next(const char *s, size_t n, uint32_t *cp);

/* Code points in s, an invalid byte counting as one. */
size_t pt_utf8_count(const char *s);

/* A malloc'd copy of s with invalid bytes replaced by U+FFFD; NULL when
 * out of memory. */
char *pt_utf8_sanitize(const char *s);

/* Writes s as a JSON string literal, quotes included. */
void pt_esc_json(FILE *out, const char *s);
/* The same for s[0..n), which may hold NUL bytes (written as \u0000). */
void pt_esc_json_n(FILE *out, const char *s, size_t n);

/* Writes s escaped for XML/HTML text or a quoted attribute value; at most
 * max code points (SIZE_MAX: all). */
void pt_esc_xml_n(FILE *out, const char *s, size_t max);
void pt_esc_xml(FILE *out, const char *s);

#endif
