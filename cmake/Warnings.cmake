# Compiler warnings for every attncheck target (interface library linked by all).
set(ATTNCHECK_CXX_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false -Wrestrict positives inside libstdc++'s std::string
  # concatenation at -O2 (GCC bug 105329).
  list(APPEND ATTNCHECK_CXX_WARNINGS -Wno-restrict)
endif()
add_library(attncheck_warnings INTERFACE)
target_compile_options(attncheck_warnings INTERFACE
  "$<$<COMPILE_LANGUAGE:CXX>:${ATTNCHECK_CXX_WARNINGS}>")
