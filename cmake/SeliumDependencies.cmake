# Third-party dependencies, all from Debian packages (scripts/bootstrap installs them).
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
# Networking: HTTP/2 (nghttp2), QUIC (ngtcp2 with its GnuTLS crypto backend).
find_package(PkgConfig REQUIRED)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2>=1.52)
pkg_check_modules(NGTCP2 REQUIRED IMPORTED_TARGET libngtcp2>=0.12 libngtcp2_crypto_gnutls>=0.12)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls>=3.7)

if(SELIUM_KERNEL_ONLY)
  return()  # the kernel never links V8
endif()

# V8 comes from libnode108 + libnode-dev unpacked by scripts/bootstrap into third_party/libnode.
set(SELIUM_LIBNODE_PREFIX "${CMAKE_SOURCE_DIR}/third_party/libnode"
    CACHE PATH "Where scripts/bootstrap unpacked libnode108 and libnode-dev")
find_path(V8_INCLUDE_DIR v8.h PATHS "${SELIUM_LIBNODE_PREFIX}/usr/include/node" NO_DEFAULT_PATH)
# libnode-dev leaves v8-fast-api-calls.h out of include/node; its full V8 include tree (the same
# headers otherwise) has it.
find_path(V8_FAST_API_INCLUDE_DIR v8-fast-api-calls.h
          PATHS "${SELIUM_LIBNODE_PREFIX}/usr/include/nodejs/deps/v8/include" NO_DEFAULT_PATH)
find_library(V8_LIBRARY NAMES node.108 node
             PATHS "${SELIUM_LIBNODE_PREFIX}/usr/lib/x86_64-linux-gnu" NO_DEFAULT_PATH)
if(NOT V8_INCLUDE_DIR OR NOT V8_FAST_API_INCLUDE_DIR OR NOT V8_LIBRARY)
  message(FATAL_ERROR "V8 not found under ${SELIUM_LIBNODE_PREFIX}: run scripts/bootstrap first")
endif()
add_library(selium_v8 INTERFACE)
# SYSTEM: V8's headers are not held to our warning flags.
target_include_directories(selium_v8 SYSTEM INTERFACE ${V8_INCLUDE_DIR} ${V8_FAST_API_INCLUDE_DIR})
target_link_libraries(selium_v8 INTERFACE ${V8_LIBRARY} Threads::Threads)
# Debian builds V8 without pointer compression or the sandbox, so no V8_COMPRESS_POINTERS /
# V8_ENABLE_SANDBOX defines: they must match the library's build or object layouts disagree.
get_filename_component(_v8_libdir ${V8_LIBRARY} DIRECTORY)
set(CMAKE_BUILD_RPATH "${_v8_libdir}")
set(CMAKE_INSTALL_RPATH "${_v8_libdir}")
