# Builds Selium guests with the SDK. Include it from a CMake project configured with the wasm32
# toolchain (cmake/wasm32-wasi.cmake), then:
#
#   selium_add_guest(hello SOURCES hello.cc)                   # C++ (or C) guest using the SDK
#   selium_add_guest(trivial RAW SOURCES t.cc EXPORTS add)     # no SDK: exports listed by hand
#   selium_add_guest(tool COMMAND SOURCES main.c)              # WASI command: main(), printf...
#   selium_add_guest(lib REACTOR SOURCES lib.c EXPORTS run)    # WASI reactor: _initialize + run
#   selium_guest_schemas(hello SCHEMAS messages.fbs)            # flatc: messages_generated.h
#
# A guest is a wasm "reactor" module <name>.wasm (no _start; the host calls its exports). SDK
# guests export their SELIUM_ENTRYPOINTs, selium_alloc and, when they use tasks, selium_poll,
# and import nothing but "selium" hostcalls. COMMAND and REACTOR guests are ordinary wasi-libc
# programs without the SDK: they may import WASI ("wasi_snapshot_preview1", which the host
# provides), so the selium-only import check does not apply to them. A COMMAND links wasi-libc's
# crt1 and exports _start (the host runs it with the spec's args as argv); a REACTOR links the
# reactor crt1 and exports _initialize (the host calls it once before the entrypoint).
#
# Defines the static library target selium::sdk on first inclusion when the project enables
# C++; a `project(x LANGUAGES C)` project can build RAW, COMMAND and REACTOR guests (SDK guests
# need C++). Without a CMAKE_BUILD_TYPE, guests build optimised (Release): an unoptimised guest
# is several times larger and slower.
include_guard(GLOBAL)

if(NOT CMAKE_SYSTEM_PROCESSOR STREQUAL "wasm32")
  message(FATAL_ERROR "SeliumGuest.cmake needs the wasm32 toolchain (cmake/wasm32-wasi.cmake)")
endif()

get_property(_selium_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(NOT CMAKE_BUILD_TYPE AND NOT _selium_multi_config)
  # The per-configuration flags are applied when the build is generated, so setting the type
  # here still reaches every target of the project.
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type (SeliumGuest.cmake's default: Release)"
      FORCE)
  message(STATUS "Selium guests: no CMAKE_BUILD_TYPE given, building Release")
endif()

get_property(_selium_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if("CXX" IN_LIST _selium_languages)
  set(SELIUM_SDK_AVAILABLE ON)
else()
  set(SELIUM_SDK_AVAILABLE OFF)
endif()

get_filename_component(SELIUM_SDK_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
get_filename_component(SELIUM_SDK_REPO_DIR "${SELIUM_SDK_DIR}/.." ABSOLUTE)
set(SELIUM_ABI_INCLUDE_DIR "${SELIUM_SDK_REPO_DIR}/include")
set(SELIUM_SCHEMA_DIR "${SELIUM_SDK_REPO_DIR}/schemas")

# The SDK library, when the project enables C++.
if(SELIUM_SDK_AVAILABLE)
  # FlatBuffers: flatc from the build machine; its headers are header-only and portable, but
  # /usr/include must not be on the wasm include path (glibc headers would shadow wasi-libc's),
  # so only the flatbuffers/ folder is linked into a private include directory.
  find_program(SELIUM_FLATC flatc REQUIRED)
  find_program(SELIUM_WASM_OBJDUMP wasm-objdump)  # optional: checks every SDK guest's imports
  find_path(SELIUM_FLATBUFFERS_INCLUDE flatbuffers/flatbuffers.h
    PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH NO_DEFAULT_PATH REQUIRED)
  set(_selium_sdk_gen "${CMAKE_BINARY_DIR}/selium_sdk_gen")
  set(SELIUM_SDK_GEN_DIR "${_selium_sdk_gen}")
  file(MAKE_DIRECTORY "${_selium_sdk_gen}")
  file(CREATE_LINK "${SELIUM_FLATBUFFERS_INCLUDE}/flatbuffers" "${_selium_sdk_gen}/flatbuffers"
    SYMBOLIC)

  foreach(_selium_schema log process net atlas switchboard)
    add_custom_command(
      OUTPUT "${_selium_sdk_gen}/${_selium_schema}_generated.h"
      COMMAND "${SELIUM_FLATC}" --cpp -o "${_selium_sdk_gen}"
              "${SELIUM_SCHEMA_DIR}/${_selium_schema}.fbs"
      DEPENDS "${SELIUM_SCHEMA_DIR}/${_selium_schema}.fbs"
      COMMENT "flatc: ${_selium_schema}.fbs for the guest SDK"
      VERBATIM)
  endforeach()

  add_library(selium_sdk STATIC
    "${SELIUM_SDK_DIR}/src/channel.cc"
    "${SELIUM_SDK_DIR}/src/child.cc"
    "${SELIUM_SDK_DIR}/src/executor.cc"
    "${SELIUM_SDK_DIR}/src/http.cc"
    "${SELIUM_SDK_DIR}/src/log.cc"
    "${SELIUM_SDK_DIR}/src/process.cc"
    "${SELIUM_SDK_DIR}/src/quic.cc"
    "${SELIUM_SDK_DIR}/src/runtime.cc"
    "${SELIUM_SDK_DIR}/src/switchboard.cc"
    "${SELIUM_SDK_DIR}/src/switchboard_protocol.cc"
    "${SELIUM_SDK_DIR}/src/session.cc"
    "${SELIUM_SDK_DIR}/src/time.cc"
    "${SELIUM_SDK_DIR}/src/atlas.cc"
    "${SELIUM_SDK_DIR}/src/atlas_protocol.cc"
    "${SELIUM_SDK_DIR}/src/uri.cc"
    "${_selium_sdk_gen}/log_generated.h"
    "${_selium_sdk_gen}/process_generated.h"
    "${_selium_sdk_gen}/net_generated.h"
    "${_selium_sdk_gen}/switchboard_generated.h"
    "${_selium_sdk_gen}/atlas_generated.h")
  add_library(selium::sdk ALIAS selium_sdk)
  target_include_directories(selium_sdk
    PUBLIC "${SELIUM_SDK_DIR}/include" "${SELIUM_ABI_INCLUDE_DIR}"
    PRIVATE "${_selium_sdk_gen}")
  target_compile_features(selium_sdk PUBLIC cxx_std_20)
  target_compile_options(selium_sdk PRIVATE -Wall -Wextra -Werror)
  # Guests have no exception support and no use for RTTI; both would pull code (and, for the
  # terminate path, WASI imports) into every module.
  target_compile_options(selium_sdk PUBLIC $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>)
  # selium_alloc lives in an object nothing else references; make every SDK guest link and export
  # it (the host needs it to pass string and byte arguments).
  target_link_options(selium_sdk INTERFACE "LINKER:--undefined=selium_alloc")
endif()

# selium_add_guest(<name> SOURCES <file>... [RAW | COMMAND | REACTOR] [EXPORTS <symbol>...]
#                  [LIBRARIES <target>...])
#   RAW      do not link the SDK (a bare module: only EXPORTS are exported)
#   COMMAND  a WASI command: wasi-libc's crt1 calls main(); exports _start; no SDK
#   REACTOR  a WASI reactor: wasi-libc's reactor crt1; exports _initialize and EXPORTS; no SDK
#   EXPORTS  extra C symbols to export under their own names
# Produces <name>.wasm in CMAKE_RUNTIME_OUTPUT_DIRECTORY (the guest build sets it to the modules
# folder of a work directory).
function(selium_add_guest name)
  cmake_parse_arguments(ARG "RAW;COMMAND;REACTOR" "" "SOURCES;EXPORTS;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "selium_add_guest(${name}): SOURCES is required")
  endif()
  if((ARG_RAW AND (ARG_COMMAND OR ARG_REACTOR)) OR (ARG_COMMAND AND ARG_REACTOR))
    message(FATAL_ERROR "selium_add_guest(${name}): RAW, COMMAND and REACTOR exclude each other")
  endif()
  if(NOT ARG_RAW AND NOT ARG_COMMAND AND NOT ARG_REACTOR AND NOT SELIUM_SDK_AVAILABLE)
    message(FATAL_ERROR "selium_add_guest(${name}): an SDK guest needs C++, which this project "
                        "does not enable: write project(<name> LANGUAGES C CXX), or build it as "
                        "a RAW, COMMAND or REACTOR guest")
  endif()
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES SUFFIX ".wasm")
  if(SELIUM_SDK_AVAILABLE)
    target_compile_features(${name} PRIVATE cxx_std_20)
  endif()
  # The stack goes first in memory so an overflow traps (address wraps below 0) instead of
  # overwriting data.
  target_link_options(${name} PRIVATE "LINKER:--strip-debug" "LINKER:--stack-first")
  if(ARG_COMMAND)
    # wasi-libc's crt1-command.o: _start runs constructors, main(argc, argv), exit.
  elseif(ARG_REACTOR)
    target_link_options(${name} PRIVATE -mexec-model=reactor)
  else()
    # Selium reactor module: no crt1, no _start; the host calls exports.
    target_link_options(${name} PRIVATE -nostartfiles "LINKER:--no-entry")
  endif()
  foreach(sym IN LISTS ARG_EXPORTS)
    target_link_options(${name} PRIVATE "LINKER:--export=${sym}")
  endforeach()
  if(ARG_COMMAND OR ARG_REACTOR)
    # The ABI headers (e.g. selium/abi/wasi.h) without the SDK library.
    target_include_directories(${name} PRIVATE "${SELIUM_ABI_INCLUDE_DIR}")
  elseif(NOT ARG_RAW)
    target_link_libraries(${name} PRIVATE selium::sdk)
    if(SELIUM_WASM_OBJDUMP)
      add_custom_command(TARGET ${name} POST_BUILD
        COMMAND "${CMAKE_COMMAND}" -DWASM=$<TARGET_FILE:${name}>
          -DOBJDUMP=${SELIUM_WASM_OBJDUMP} -P "${SELIUM_SDK_DIR}/cmake/CheckImports.cmake"
        VERBATIM)
    endif()
  endif()
  if(ARG_LIBRARIES)
    target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES})
  endif()
endfunction()

# selium_guest_schemas(<target> SCHEMAS <file.fbs>...): a guest's own FlatBuffers schemas (its
# message types, e.g. for the Switchboard). flatc generates <file>_generated.h for each into a
# folder of the target's, and the target may then include it and <flatbuffers/flatbuffers.h>.
# Relative paths are taken from the current source folder. Needs the SDK (a C++ project).
function(selium_guest_schemas target)
  cmake_parse_arguments(ARG "" "" "SCHEMAS" ${ARGN})
  if(NOT SELIUM_SDK_AVAILABLE)
    message(FATAL_ERROR "selium_guest_schemas(${target}): needs a C++ project (the SDK)")
  endif()
  if(NOT ARG_SCHEMAS)
    message(FATAL_ERROR "selium_guest_schemas(${target}): SCHEMAS is required")
  endif()
  set(gen "${CMAKE_CURRENT_BINARY_DIR}/${target}_schemas")
  set(headers)
  foreach(schema IN LISTS ARG_SCHEMAS)
    get_filename_component(path "${schema}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    get_filename_component(stem "${schema}" NAME_WE)
    add_custom_command(
      OUTPUT "${gen}/${stem}_generated.h"
      COMMAND "${SELIUM_FLATC}" --cpp -o "${gen}" "${path}"
      DEPENDS "${path}"
      COMMENT "flatc: ${stem}.fbs for ${target}"
      VERBATIM)
    list(APPEND headers "${gen}/${stem}_generated.h")
  endforeach()
  target_sources(${target} PRIVATE ${headers})
  # The SDK's generated folder holds the link to the FlatBuffers headers (never /usr/include).
  target_include_directories(${target} PRIVATE "${gen}" "${SELIUM_SDK_GEN_DIR}")
endfunction()

# selium_add_wat_guests(<target> DIR <dir> MODULES <name>...): hand-written modules
# <dir>/<name>.wat, assembled with wat2wasm (wabt) into <name>.wasm beside the other guests, all
# built by the custom target <target>. Exception handling (try/catch) is enabled, as in V8.
function(selium_add_wat_guests target)
  cmake_parse_arguments(ARG "" "DIR" "MODULES" ${ARGN})
  find_program(SELIUM_WAT2WASM wat2wasm REQUIRED)
  set(dir ${CMAKE_RUNTIME_OUTPUT_DIRECTORY})
  if(NOT dir)
    set(dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set(outputs)
  foreach(wat IN LISTS ARG_MODULES)
    set(in ${ARG_DIR}/${wat}.wat)
    set(out ${dir}/${wat}.wasm)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${SELIUM_WAT2WASM} --enable-exceptions ${in} -o ${out}
      DEPENDS ${in}
      COMMENT "wat2wasm ${wat}.wat"
      VERBATIM)
    list(APPEND outputs ${out})
  endforeach()
  add_custom_target(${target} ALL DEPENDS ${outputs})
endfunction()
