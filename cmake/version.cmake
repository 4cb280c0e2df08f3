# Writes the version header (run at build time by the kproxy_version_header target, so the source
# commit is the one being built, not the one configured). Inputs: SOURCE_DIR, TEMPLATE, OUTPUT,
# COMPILER, COMPILER_VERSION, PLATFORM. The file is rewritten only when its content changes.
#
# Reproducible: the only date embedded is SOURCE_DATE_EPOCH when set, else the commit's own time.
# Builds from a tarball without git take KPROXY_GIT_COMMIT / KPROXY_GIT_TREE_STATE from the
# environment.
file(STRINGS ${SOURCE_DIR}/VERSION version_lines REGEX "^[A-Z_]+=")
foreach(line ${version_lines})
  string(REGEX REPLACE "^([A-Z_]+)=(.*)$" "\\1" key "${line}")
  string(REGEX REPLACE "^([A-Z_]+)=(.*)$" "\\2" value "${line}")
  set(${key} "${value}")
endforeach()
if(NOT KPROXY_VERSION MATCHES "^([0-9]+)\\.([0-9]+)\\.([0-9]+)$")
  message(FATAL_ERROR "VERSION: KPROXY_VERSION=\"${KPROXY_VERSION}\" is not MAJOR.MINOR.PATCH")
endif()
set(VERSION_MAJOR ${CMAKE_MATCH_1})
set(VERSION_MINOR ${CMAKE_MATCH_2})

find_package(Git QUIET)
set(GIT_COMMIT "$ENV{KPROXY_GIT_COMMIT}")
set(GIT_TREE_STATE "$ENV{KPROXY_GIT_TREE_STATE}")
set(COMMIT_TIME "")
if(GIT_COMMIT STREQUAL "" AND GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} rev-parse HEAD
                  OUTPUT_VARIABLE GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    set(GIT_COMMIT "")
  else()
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes ERROR_QUIET)
    if(changes STREQUAL "")
      set(GIT_TREE_STATE clean)
    else()
      set(GIT_TREE_STATE dirty)
    endif()
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} log -1 --format=%ct
                    OUTPUT_VARIABLE COMMIT_TIME OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
if(GIT_COMMIT STREQUAL "")
  set(GIT_COMMIT unknown)
endif()

set(GIT_VERSION "v${KPROXY_VERSION}")
if(GIT_TREE_STATE STREQUAL "dirty")
  string(APPEND GIT_VERSION "-dirty")
endif()

# string(TIMESTAMP) honours SOURCE_DATE_EPOCH; without it, date the build by its commit.
if("$ENV{SOURCE_DATE_EPOCH}" STREQUAL "")
  if(COMMIT_TIME STREQUAL "")
    set(COMMIT_TIME 0)
  endif()
  set(ENV{SOURCE_DATE_EPOCH} ${COMMIT_TIME})
endif()
string(TIMESTAMP BUILD_DATE "%Y-%m-%dT%H:%M:%SZ" UTC)

configure_file(${TEMPLATE} ${OUTPUT} @ONLY)
