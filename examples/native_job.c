/* native_job.c: a small native program for the peaktrace quick start.
 * Its peak is made by parse_rows() (many small rows) and load_blob() (one
 * large buffer). Build: cc -O1 -g -o native_job native_job.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	char *text;
	struct row *next;
};

static struct row *parse_rows(int n)
{
	struct row *head = NULL;
	for (int i = 0; i < n; i++) {
		struct row *r = malloc(sizeof *r);
		r->text = malloc(64 + (size_t)(i % 200));
		snprintf(r->text, 64, "row %d", i);
		r->next = head;
		head = r;
	}
	return head;
}

static char *load_blob(size_t n)
{
	char *b = malloc(n);
	memset(b, 'x', n);
	return b;
}

int main(void)
{
	struct row *rows = parse_rows(300000);
	char *blob = load_blob(48u << 20);
	size_t total = 0;
	for (struct row *r = rows; r; r = r->next)
		total += strlen(r->text);
	printf("%zu bytes of text, blob %c\n", total, blob[12345]);
	free(blob);
	while (rows) {
		struct row *n = rows->next;
		free(rows->text);
		free(rows);
		rows = n;
	}
	return 0;
}
