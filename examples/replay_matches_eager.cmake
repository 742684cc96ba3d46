# ctest's check of a classifier example's traced training step: a --quick run with replayed
# steps must pass and write the same learning curves, every column but the seconds, as the
# same run with --eager.
#   cmake -DPROGRAM=... -DOUT=<directory> -DPASS=<regex for the replayed run> -P replay_matches_eager.cmake
foreach(mode replayed eager)
  set(flags --quick --out ${OUT}/${mode})
  if(mode STREQUAL "eager")
    list(APPEND flags --eager)
  endif()
  execute_process(COMMAND ${PROGRAM} ${flags} RESULT_VARIABLE status OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  message(STATUS "${mode} run:\n${output}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "the ${mode} run failed with ${status}")
  endif()
  if(mode STREQUAL "replayed")
    if(NOT output MATCHES "${PASS}")
      message(FATAL_ERROR "the replayed run's output does not match ${PASS}")
    endif()
    if(NOT output MATCHES "training steps: [1-9][0-9]* traced, [1-9][0-9]* replayed")
      message(FATAL_ERROR "the replayed run did not replay its steps")
    endif()
  endif()
  file(STRINGS ${OUT}/${mode}/curves.csv rows)
  list(TRANSFORM rows REPLACE ",[^,]*$" "")  # the seconds differ
  set(curves_${mode} "${rows}")
endforeach()
if(NOT curves_replayed STREQUAL curves_eager)
  message(FATAL_ERROR "replayed and eager learning curves differ:\n  replayed: ${curves_replayed}\n"
    "  eager:    ${curves_eager}")
endif()
message(STATUS "replayed and eager learning curves agree: ${curves_replayed}")
