# examples/hello's code: about 40 KB optimised, over 200 KB without optimisation.
file(SIZE "${BINARY}/greeter.wasm" size)
if(size GREATER 100000)
  message(FATAL_ERROR "greeter.wasm is ${size} bytes: not built optimised")
endif()
file(STRINGS "${BINARY}/CMakeCache.txt" type REGEX "^CMAKE_BUILD_TYPE:")
if(NOT type MATCHES "=Release$")
  message(FATAL_ERROR "the build type was not defaulted to Release: ${type}")
endif()
