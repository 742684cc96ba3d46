# Runs an MPI job that must fail: passes when it ends with a non-zero exit within TIMEOUT
# seconds (and its output matches EXPECT, when given), fails when it succeeds or hangs.
#   cmake -DCOMMAND="mpiexec;-n;2;prog" -DTIMEOUT=20 [-DEXPECT=regex] -P expect_job_failure.cmake
string(TIMESTAMP start "%s")
execute_process(COMMAND ${COMMAND} TIMEOUT ${TIMEOUT} RESULT_VARIABLE result
  OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(TIMESTAMP end "%s")
math(EXPR took "${end} - ${start}")
if(result MATCHES "timeout")
  message(FATAL_ERROR "the job hung: still running after ${TIMEOUT} s\n${out}${err}")
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "the job succeeded, but one rank threw\n${out}${err}")
endif()
if(DEFINED EXPECT AND NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the job failed, but its output does not match '${EXPECT}'\n${out}${err}")
endif()
message(STATUS "the job ended with '${result}' after ${took} s, as it must")
