# Compile options for project code: strict warnings, optional sanitizers.
add_library(selium_options INTERFACE)
target_compile_options(selium_options INTERFACE -Wall -Wextra -Werror -Wno-unused-parameter)

if(SELIUM_SANITIZE)
  list(JOIN SELIUM_SANITIZE "," _selium_san)
  # V8 is built without RTTI, so UBSan's vptr check cannot work across it (and only UBSan knows
  # the option: TSan alone rejects it).
  if("undefined" IN_LIST SELIUM_SANITIZE)
    set(_selium_no_vptr -fno-sanitize=vptr)
  endif()
  target_compile_options(selium_options INTERFACE -fsanitize=${_selium_san} ${_selium_no_vptr}
                                                  -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(selium_options INTERFACE -fsanitize=${_selium_san} ${_selium_no_vptr})
endif()

# Wraps add_executable for GoogleTest binaries and registers them with CTest.
function(selium_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main
                                        selium_options)
  # Shared test helpers: #include "support/....h".
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endfunction()
