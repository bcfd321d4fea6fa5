/*
 * fakepy_debug.c: loaded by test_pystack_fakepy on top of fakepy313t, it
 * adds the one symbol only a debug (--with-pydebug) CPython exports.
 */
__attribute__((visibility("default"))) void _Py_NegativeRefcount(const char *file, int line,
								   void *op);

void _Py_NegativeRefcount(const char *file, int line, void *op)
{
	(void)file;
	(void)line;
	(void)op;
}
