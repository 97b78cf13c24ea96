# ATTNCHECK_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer on every target.
# UBSan is made fatal so a report fails the test that triggered it.
if(ATTNCHECK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  # GCC 12 reports false -Wmaybe-uninitialized inside libstdc++ (<regex>,
  # std::function) when the sanitizers' instrumentation defeats its analysis.
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
endif()
