# HERALD_WERROR (the CI build, scripts/test.sh): every warning of Herald's own code is an error.
option(HERALD_WERROR "Treat warnings in Herald's libraries, tests and binary as errors" OFF)
set(HERALD_WARNINGS -Wall -Wextra)
if(HERALD_WERROR)
  list(APPEND HERALD_WARNINGS -Werror)
endif()

# herald_library(NAME SOURCES... DEPS ...): one small static library per folder, named herald_<NAME>.
function(herald_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(herald_${name} STATIC ${ARG_SOURCES})
  # Installed, the headers a library user needs are under include/herald with the same layout as
  # src/ (cmake/HeraldInstall.cmake).
  target_include_directories(herald_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
                                                   $<INSTALL_INTERFACE:include/herald>)
  target_link_libraries(herald_${name} PUBLIC ${ARG_DEPS})
  target_compile_options(herald_${name} PRIVATE ${HERALD_WARNINGS} -Wpedantic)
endfunction()

# herald_test(NAME SOURCES... DEPS ... [LABELS ...]): one gtest executable per unit, beside the code.
function(herald_test name)
  if(NOT HERALD_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${PROJECT_SOURCE_DIR}/cmake/test_init.cpp)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main spdlog::spdlog)
  target_compile_options(${name} PRIVATE ${HERALD_WARNINGS})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
endfunction()
