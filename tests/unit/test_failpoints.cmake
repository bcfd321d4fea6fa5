# test_failpoints: the failpoint engine depends on nothing of ours but
# contracts/, so its test links only pt_failpoints (not pt_core/pt_report):
# it builds and runs whatever state the rest of the runtime is in.
set_property(TARGET test_failpoints PROPERTY LINK_LIBRARIES
             pt_failpoints ${CMOCKA_LIB} Threads::Threads)
