# test_symbolize resolves its own static function and checks the DWARF
# line: it needs -g in every build type (release builds have no -g).
target_compile_options(test_symbolize PRIVATE -g)
