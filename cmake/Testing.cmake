# attncheck_add_test(NAME SOURCES... LIBS... [ENV VAR=VALUE...]): a GoogleTest
# executable whose tests are discovered into CTest. Property suites pass a
# fixed RapidCheck seed and case count through ENV (RC_PARAMS) so CI runs are
# reproducible; longer runs belong to `attncheck fuzz`.
function(attncheck_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;ENV" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main attncheck_warnings)
  set(props TIMEOUT 900)
  if(ARG_ENV)
    list(APPEND props ENVIRONMENT "${ARG_ENV}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${props})
endfunction()
