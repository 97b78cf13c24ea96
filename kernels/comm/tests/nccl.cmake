# The nccl backend's tests (included by CMakeLists.txt when the backend is
# built). They compile and link everywhere; at run time every test that needs
# GPUs skips with "needs 2 or more CUDA devices (found N)" on a machine with
# fewer than 2, like CI's.
attncheck_add_test(test_comm_nccl SOURCES test_nccl.cpp suite.cpp checks.cpp cuda_memory.cpp
                   LIBS attncheck_comm_nccl fmt::fmt)

# The same suite over the nccl backend bootstrapped through MPI, one GPU per
# process: every test skips and the program exits 77 (Skipped) without them.
if(TARGET attncheck_comm_mpi)
  add_executable(test_comm_nccl_mpi test_mpi.cpp suite.cpp checks.cpp cuda_memory.cpp)
  target_compile_definitions(test_comm_nccl_mpi PRIVATE ATTNCHECK_COMM_TEST_NCCL)
  target_link_libraries(test_comm_nccl_mpi PRIVATE attncheck_comm_nccl attncheck_comm_mpi fmt::fmt
                        GTest::gtest attncheck_warnings)
  attncheck_comm_mpi_test(test_comm_nccl_mpi_n2 test_comm_nccl_mpi 2 SKIP_RETURN_CODE 77 LABELS gpu)
endif()
