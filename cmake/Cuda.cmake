# CUDA is enabled only when nvcc is found and ATTNCHECK_ENABLE_CUDA is ON.
# Kernels always also build for the CPU through kernels/simt, so a build without
# CUDA is complete; the CUDA build adds native GPU execution.
set(ATTNCHECK_HAVE_CUDA OFF)
if(ATTNCHECK_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    # C++20 on both sides (the simt build of the same .cu is C++20). CMake
    # 3.25 does not know nvcc's C++20 flag; 3.26 adds exactly this for nvcc >= 12.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(ATTNCHECK_HAVE_CUDA ON)
    message(STATUS "attncheck: CUDA enabled (${CMAKE_CUDA_COMPILER}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "attncheck: nvcc not found, CUDA sources are built for the CPU only")
  endif()
else()
  message(STATUS "attncheck: CUDA forced off (ATTNCHECK_ENABLE_CUDA=OFF)")
endif()

# attncheck_cuda_kernels(NAME SOURCES a.cu ... [OBJECT] [LIBS ...])
#   A library of .cu files compiled by nvcc for CMAKE_CUDA_ARCHITECTURES
#   (STATIC, or OBJECT for a compile check). Only call it when
#   ATTNCHECK_HAVE_CUDA is ON. nvcc's warnings are errors (device code included:
#   all-warnings, and a __host__ __device__ function calling a __host__ one is
#   an error rather than a warning), the host compiler of nvcc gets the
#   project's warnings, and ptxas prints every kernel's registers, stack frame
#   and spill stores/loads into the build log (--resource-usage = -Xptxas -v).
if(ATTNCHECK_HAVE_CUDA)
  # The host compiler sees nvcc's generated code, whose `# 1 "file"` line
  # markers -Wpedantic rejects: the project's warnings without it.
  set(host_warnings ${ATTNCHECK_CXX_WARNINGS})
  list(REMOVE_ITEM host_warnings -Wpedantic)
  string(REPLACE ";" "," ATTNCHECK_CUDA_HOST_WARNINGS "${host_warnings}")
  set(ATTNCHECK_CUDA_OPTIONS
    --Werror=all-warnings --Werror=cross-execution-space-call --resource-usage
    -Xcompiler=${ATTNCHECK_CUDA_HOST_WARNINGS})
endif()

function(attncheck_cuda_kernels name)
  cmake_parse_arguments(ARG "OBJECT" "" "SOURCES;LIBS" ${ARGN})
  if(NOT ATTNCHECK_HAVE_CUDA)
    message(FATAL_ERROR "attncheck_cuda_kernels(${name}) needs ATTNCHECK_HAVE_CUDA")
  endif()
  if(ARG_OBJECT)
    add_library(${name} OBJECT ${ARG_SOURCES})
  else()
    add_library(${name} STATIC ${ARG_SOURCES})
  endif()
  # Directory-wide options are host-compiler flags (ATTNCHECK_SANITIZE's
  # -fsanitize=...), which nvcc rejects: the device code is not instrumented.
  set_property(TARGET ${name} PROPERTY COMPILE_OPTIONS "")
  target_compile_options(${name} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:${ATTNCHECK_CUDA_OPTIONS}>")
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC CUDA::cudart ${ARG_LIBS})
endfunction()
