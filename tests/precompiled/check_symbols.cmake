# ctest precompiled_part_holds_every_op: PROBE is an object compiled against the precompiled
# part, LIBRARY the part itself. Every listed entry point the probe calls must come from the
# library: the probe must define none of them. The library must define them, which shows that
# the pattern finds what it looks for.
#   cmake -DNM=nm -DPROBE=uses_every_op.o -DLIBRARY=libtapegrad_precompiled.a -P check_symbols.cmake
set(entry_points "apply_unary|apply_binary|sum_to|broadcast_to|reshape|transpose|take|stack|concat|slice_window|gather|matmul|batch_matmul|sum|prod|extreme|softmax|logsumexp|reduce_over|vector_norm|select_where|conv2d|max_pool2d|avg_pool2d|double_vjp_tangent")
set(pattern "tapegrad::detail::(${entry_points})<[^()]*>\\(|Optimizer<tapegrad::[A-Za-z]+>::apply_gradients<|Dense<(float|double)>::operator\\(\\)|GradientTape::compute\\(|detail::reverse_sweep\\(|detail::explain\\[|tapegrad::operator<< <|tapegrad::to_string<|detail::cast<(float|double), bool>\\(|clip_by_(value|global_norm)<|(Conv2D|MaxPool2D|Flatten|Sequential)<(float|double)>::operator\\(\\)|GradientTape::gradient_of<|ErrorText::ErrorText\\([^)]*SourceLocation const\\*\\)")

function(defined_entry_points file out)
  execute_process(COMMAND ${NM} -C --defined-only ${file} OUTPUT_VARIABLE symbols
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${file}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  set(found "")
  foreach(line IN LISTS lines)
    if(line MATCHES "${pattern}")
      list(APPEND found "${line}")
    endif()
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

defined_entry_points(${PROBE} in_probe)
defined_entry_points(${LIBRARY} in_library)
list(LENGTH in_library library_count)
if(library_count LESS 100)
  message(FATAL_ERROR "the precompiled part defines only ${library_count} entry points; "
                      "the pattern no longer matches its symbols")
endif()
if(in_probe)
  string(REPLACE ";" "\n  " listed "${in_probe}")
  message(FATAL_ERROR "compiled in the program although the precompiled part should hold "
                      "them (add them to the list in tapegrad/detail/instantiations.hpp or "
                      "tapegrad/train/instantiations.hpp):\n  ${listed}")
endif()
message(STATUS "the probe calls the library's ${library_count} entry points and defines none")
