# Compiles SOURCE with CXX and FLAGS, which must fail, and prints how many lines of the
# diagnostics say "error:" and the first of them: "N error line(s): ...".
execute_process(COMMAND ${CXX} ${FLAGS} ${SOURCE} RESULT_VARIABLE status
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(status EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but must not")
endif()
string(REPLACE ";" "," err "${err}")
string(REPLACE "\n" ";" lines "${err}")
set(errors "")
foreach(line IN LISTS lines)
  if(line MATCHES "error:")
    list(APPEND errors "${line}")
  endif()
endforeach()
list(LENGTH errors count)
list(GET errors 0 first)
message("${count} error line: ${first}")
