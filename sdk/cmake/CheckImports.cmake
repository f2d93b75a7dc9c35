# cmake -DWASM=<module> -DOBJDUMP=<wasm-objdump> -P CheckImports.cmake
# Fails, and deletes the module so the next build relinks it, if the module imports anything
# from outside module "selium": the host refuses such modules (e.g. WASI fd_write dragged in by
# printf, iostream or an assert).
execute_process(COMMAND "${OBJDUMP}" -x -j Import "${WASM}"
  OUTPUT_VARIABLE listing ERROR_QUIET)
string(REGEX MATCHALL "<- [^\n]+" imports "${listing}")
set(foreign)
foreach(import IN LISTS imports)
  string(REGEX REPLACE "^<- " "" import "${import}")
  if(NOT import MATCHES "^selium\\.")
    list(APPEND foreign "${import}")
  endif()
endforeach()
if(foreign)
  file(REMOVE "${WASM}")
  list(JOIN foreign ", " foreign)
  message(FATAL_ERROR "${WASM} imports ${foreign}; guests may import only \"selium\" hostcalls "
    "(avoid printf, iostream and assert; see sdk/README.md)")
endif()
