# cmake -DSOURCE=<project> -DBINARY=<dir> -DTOOLCHAIN=<file> -DSDK_CMAKE=<file> -P this: configures
# and builds the project from scratch as a user would, then runs its expect.cmake.
file(REMOVE_RECURSE "${BINARY}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${BINARY}" -G Ninja
    "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN}" "-DSELIUM_GUEST_CMAKE=${SDK_CMAKE}"
  RESULT_VARIABLE configured OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT configured EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE} failed:\n${out}\n${err}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BINARY}"
  RESULT_VARIABLE built OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT built EQUAL 0)
  message(FATAL_ERROR "building ${SOURCE} failed:\n${out}\n${err}")
endif()
include("${SOURCE}/expect.cmake")
