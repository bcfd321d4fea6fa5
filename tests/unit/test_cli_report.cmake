# test_cli_report runs the built `peaktrace` binary (report) and checks
# output, exit statuses and messages, the interface contract of DESIGN.md.
if(TARGET peaktrace_cli)
  target_compile_definitions(test_cli_report PRIVATE
    PEAKTRACE_BIN="$<TARGET_FILE:peaktrace_cli>")
  add_dependencies(test_cli_report peaktrace_cli)
endif()
