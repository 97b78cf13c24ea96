# Every third-party dependency, from Debian packages (ci/deps.sh installs them).
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
# RapidCheck drives the `fuzz` verb of the CLI as well as the test suites.
find_package(rapidcheck REQUIRED)
if(ATTNCHECK_ENABLE_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
