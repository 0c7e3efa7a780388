# run_fuzz.cmake — one bounded libFuzzer run for ctest: copy the seeds to the build corpus, fuzz, fail on a finding.
# Variables: FUZZER, SEEDS (may not exist), CORPUS, ARTIFACTS, DICT (may be empty), SECONDS, RSS_MB.
file(MAKE_DIRECTORY ${CORPUS} ${ARTIFACTS})
if(IS_DIRECTORY ${SEEDS})
  file(GLOB seed_files ${SEEDS}/*)
  if(seed_files)
    file(COPY ${seed_files} DESTINATION ${CORPUS})
  endif()
endif()

set(args -max_total_time=${SECONDS} -rss_limit_mb=${RSS_MB} -timeout=10
         -print_final_stats=1 -artifact_prefix=${ARTIFACTS}/)
if(DICT)
  list(APPEND args -dict=${DICT})
endif()

message(STATUS "${FUZZER} ${args} ${CORPUS}")
execute_process(COMMAND ${FUZZER} ${args} ${CORPUS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found ${ARTIFACTS}/*)
  message(FATAL_ERROR "fuzzer exited with ${rc}; reproducers: ${found}")
endif()
