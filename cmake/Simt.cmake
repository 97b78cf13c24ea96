# Kernels (.cu) built twice: by nvcc for GPUs (when CUDA is enabled) and by the
# host compiler with the simt prelude, to run on the CPU (kernels/simt).
#
# attncheck_simt_kernels(NAME SOURCES a.cu ... [RACE_CHECK] [LIBS ...])
#   A static library of the kernels compiled as C++ for simt, from a copy of
#   each .cu in the build tree (the .cu itself keeps its CUDA language for nvcc
#   targets; `#line` keeps diagnostics on the original file). The copy differs
#   in one construct the host compiler cannot express: a dynamic shared memory
#   declaration `extern __shared__ T name[];` becomes a pointer to the
#   runtime's per-block buffer. RACE_CHECK instruments the kernels' loads and
#   stores (GCC -fsanitize=thread, without its runtime) for the shared-memory
#   race detector of kernels/simt/racecheck.cpp.

find_package(Boost 1.74 REQUIRED COMPONENTS context)

# CUDA's fmaf is one instruction; on x86-64 without -mfma it is a libm call
# that made an FMA-bound kernel 8x slower (simt-bench). fmaf is correctly
# rounded either way, and -std=c++20 keeps a*b+c unfused, so results do not
# change. Used only when the build machine has FMA.
include(CheckCXXSourceRuns)
set(CMAKE_REQUIRED_FLAGS -mfma)
check_cxx_source_runs("int main() { return __builtin_cpu_supports(\"fma\") ? 0 : 1; }"
                      ATTNCHECK_HOST_HAS_FMA)
unset(CMAKE_REQUIRED_FLAGS)
find_package(CUDAToolkit REQUIRED)  # headers only: cuda_runtime_api.h, cuda_bf16.h, cuda_fp16.h

function(attncheck_simt_kernels name)
  cmake_parse_arguments(ARG "RACE_CHECK" "" "SOURCES;LIBS" ${ARGN})
  set(copies)
  set(dirs)
  foreach(src ${ARG_SOURCES})
    get_filename_component(abs ${src} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(stem ${src} NAME_WE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${abs})
    file(READ ${abs} text)
    # extern __shared__ [__align__(n)|alignas(n)] T name[];  ->  T* name = <buffer>;
    string(REGEX REPLACE
      "extern[ \t]+__shared__[ \t]+((__align__|alignas)[ \t]*\\([^)]*\\)[ \t]+)?([A-Za-z_][A-Za-z0-9_:<>]*)[ \t]+((__align__|alignas)[ \t]*\\([^)]*\\)[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\\[[ \t]*\\][ \t]*;"
      "\\3* \\6 = reinterpret_cast<\\3*>(::simt::detail::dynamic_shared());"
      text "${text}")
    set(copy ${CMAKE_CURRENT_BINARY_DIR}/${name}/${stem}.simt.cpp)
    file(CONFIGURE OUTPUT ${copy} CONTENT "#line 1 \"${abs}\"\n${text}" @ONLY)
    list(APPEND copies ${copy})
    list(APPEND dirs ${dir})
  endforeach()
  list(REMOVE_DUPLICATES dirs)
  add_library(${name} STATIC ${copies})
  target_include_directories(${name} PRIVATE ${dirs})  # the .cu's own quoted includes
  target_link_libraries(${name} PUBLIC simt_runtime ${ARG_LIBS} PRIVATE attncheck_warnings)
  if(ATTNCHECK_HOST_HAS_FMA)
    target_compile_options(${name} PRIVATE -mfma)
  endif()
  if(ARG_RACE_CHECK)
    # The instrumentation only: -fsanitize=thread cannot be combined with the
    # address sanitizer of ATTNCHECK_SANITIZE builds, so those directory-wide
    # options are dropped for the race-check kernels.
    set_property(TARGET ${name} PROPERTY COMPILE_OPTIONS "")
    target_compile_options(${name} PRIVATE -fsanitize=thread)
    target_link_libraries(${name} PUBLIC simt_racecheck)
  endif()
endfunction()
