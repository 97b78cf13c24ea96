# Every third-party dependency, from Debian packages (ci/deps.sh installs them).
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
# RapidCheck drives the `fuzz` verb of the CLI as well as the test suites.
find_package(rapidcheck REQUIRED)
# HDF5 C library: case files, golden data and results (FORMAT.md).
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT TARGET hdf5::hdf5)
  add_library(hdf5::hdf5 INTERFACE IMPORTED)
  target_include_directories(hdf5::hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
  target_link_libraries(hdf5::hdf5 INTERFACE ${HDF5_C_LIBRARIES})
  target_compile_definitions(hdf5::hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
endif()
# Python 3 with h5py/numpy runs the bring-your-own-kernel example and reports.
find_program(ATTNCHECK_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT ATTNCHECK_PYTHON3)
  find_program(ATTNCHECK_PYTHON3 NAMES python3 REQUIRED)
endif()
if(ATTNCHECK_ENABLE_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
