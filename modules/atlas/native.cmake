# The Atlas's pure C++ parts built for the host: the sel:// URI library and the wire protocol
# (both also in the guest SDK) and the directory store (also in the guest). Native unit tests,
# fuzz targets and host tools link selium_atlas_native. Included by tests/integration.
set(_atlas_root ${CMAKE_SOURCE_DIR})
add_library(selium_atlas_native STATIC
  ${_atlas_root}/sdk/src/uri.cc
  ${_atlas_root}/sdk/src/atlas_protocol.cc
  ${_atlas_root}/modules/atlas/store.cc)
target_include_directories(selium_atlas_native
  PUBLIC ${_atlas_root}/sdk/include ${_atlas_root}/include ${_atlas_root}/modules/atlas)
# atlas_generated.h (flatc, host flags) for the protocol and for tests that build frames by hand.
target_include_directories(selium_atlas_native SYSTEM
  PUBLIC ${CMAKE_BINARY_DIR}/generated/selium/schemas)
target_link_libraries(selium_atlas_native PUBLIC selium_options selium_schemas)

selium_add_test(atlas_unit_test
  SOURCES ${_atlas_root}/modules/atlas/uri_test.cc
          ${_atlas_root}/modules/atlas/atlas_protocol_test.cc
          ${_atlas_root}/modules/atlas/store_test.cc
  LIBS selium_atlas_native)
