# test_cli_decode runs the built `peaktrace` binary (decode, failpoints,
# --version) and checks exit statuses and messages, the interface contract
# of DESIGN.md.
if(TARGET peaktrace_cli)
  target_compile_definitions(test_cli_decode PRIVATE
    PEAKTRACE_BIN="$<TARGET_FILE:peaktrace_cli>")
  add_dependencies(test_cli_decode peaktrace_cli)
endif()
