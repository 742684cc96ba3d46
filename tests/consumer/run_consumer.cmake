# Builds and runs the consumer project against tapegrad: installed into a temporary prefix
# and found by CMake (MODE=find_package) or by pkg-config (MODE=pkg_config), or pulled in with
# add_subdirectory (MODE=add_subdirectory), where installing the parent must not install
# tapegrad.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
set(consumer_dir ${SOURCE_DIR}/tests/consumer/${MODE})
set(prefix ${WORK_DIR}/prefix)
if(MODE STREQUAL "find_package" OR MODE STREQUAL "pkg_config")
  # README's lines for installing without tests, examples or benchmarks: configured for the
  # default prefix, installed into another with --prefix.
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/tapegrad-build -DCMAKE_CXX_COMPILER=${CXX}
      -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/tapegrad-build --prefix ${prefix})
endif()
if(MODE STREQUAL "pkg_config")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/share/pkgconfig
            pkg-config --cflags tapegrad
    RESULT_VARIABLE rc OUTPUT_VARIABLE cflags ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0 OR NOT cflags MATCHES "-I")
    message(FATAL_ERROR "pkg-config --cflags tapegrad failed (${rc}): '${cflags}' ${err}")
  endif()
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  run(${CXX} -std=c++17 -O1 ${cflags} ${SOURCE_DIR}/tests/consumer/main.cpp -o
      ${WORK_DIR}/consumer)
  run(${WORK_DIR}/consumer)
  return()
endif()
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${consumer_dir} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
else()
  run(${CMAKE_COMMAND} -S ${consumer_dir} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DTAPEGRAD_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${prefix})
  if(EXISTS ${prefix}/include/tapegrad OR EXISTS ${prefix}/share/cmake/tapegrad)
    message(FATAL_ERROR "installing a project that add_subdirectory()s tapegrad installed "
                        "tapegrad too (${prefix})")
  endif()
endif()
