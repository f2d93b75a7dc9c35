# Builds every wasm32 guest (SDK, system modules, examples, test guests) as a separate CMake
# project with its own toolchain. Outputs land in ${CMAKE_BINARY_DIR}/modules, the layout of a
# work directory's modules/ folder, so tests and scripts/run point a work dir at it.
include(ExternalProject)
set(SELIUM_GUEST_OUTPUT_DIR ${CMAKE_BINARY_DIR}/modules)
ExternalProject_Add(selium_guests
  SOURCE_DIR ${CMAKE_SOURCE_DIR}/cmake/guests
  BINARY_DIR ${CMAKE_BINARY_DIR}/guests
  CMAKE_ARGS
    -G Ninja
    -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/wasm32-wasi.cmake
    -DCMAKE_BUILD_TYPE=Release
    -DSELIUM_SOURCE_DIR=${CMAKE_SOURCE_DIR}
    -DSELIUM_GUEST_OUTPUT_DIR=${SELIUM_GUEST_OUTPUT_DIR}
    $<$<BOOL:${CCACHE_PROGRAM}>:-DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE_PROGRAM}>
    $<$<BOOL:${CCACHE_PROGRAM}>:-DCMAKE_C_COMPILER_LAUNCHER=${CCACHE_PROGRAM}>
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON
  USES_TERMINAL_BUILD ON)
