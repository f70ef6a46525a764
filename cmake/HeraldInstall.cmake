# `cmake --install` (FHS paths through GNUInstallDirs):
#   bin/herald                                  the binary
#   <unit dir>/herald.service                   the systemd unit, paths of the install prefix filled in
#   etc/herald/herald.example.toml              the example configuration (/etc with prefix /usr)
#   share/doc/herald/                           README and the user guide (docs/)
#   include/herald/                             the library's public headers (and what they include)
#   lib/herald/*.a, lib/cmake/herald/           the static libraries and the CMake package:
#                                               find_package(herald CONFIG REQUIRED), herald::herald
# Components: `server` (binary, unit, config, docs: what a container or a host running the gateway
# needs; `cmake --install build --component server` after building only the `herald` target) and
# `dev` (headers, libraries, CMake package). A plain `cmake --install build` installs both.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS herald RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES config/herald.example.toml DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/herald
        COMPONENT server)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json" PATTERN "*.yaml" PATTERN "*.png")

# systemd looks for units in <prefix>/lib/systemd/system for /usr and /usr/local (not LIBDIR, which
# is multiarch on Debian). Override with -DHERALD_SYSTEMD_UNIT_DIR=... (relative to the prefix).
set(HERALD_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit is installed, relative to the install prefix")
# The unit names the installed binary and config: written at install time, so the prefix is the one
# `cmake --install --prefix` was given (and DESTDIR stays out of the file).
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  if(prefix STREQUAL \"/usr\")
    set(HERALD_CONFIG_DIR \"/etc/herald\")
  else()
    set(HERALD_CONFIG_DIR \"\${prefix}/${CMAKE_INSTALL_SYSCONFDIR}/herald\")
  endif()
  set(HERALD_BIN \"\${prefix}/${CMAKE_INSTALL_BINDIR}/herald\")
  set(HERALD_DOC_DIR \"\${prefix}/${CMAKE_INSTALL_DOCDIR}\")
  set(HERALD_UNIT_DIR \"\${prefix}/${HERALD_SYSTEMD_UNIT_DIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/deploy/systemd/herald.service.in\"
                 \"\$ENV{DESTDIR}\${HERALD_UNIT_DIR}/herald.service\" @ONLY)
  message(STATUS \"Installing: \$ENV{DESTDIR}\${HERALD_UNIT_DIR}/herald.service\")
" COMPONENT server)

# ---- the library -------------------------------------------------------------------------------
# The public headers (src/herald/) and the internal headers they include, with src/'s layout under
# include/herald (the targets' include directory there). Nothing else of src/ is installed; the
# embedded-service test builds examples/embedded-service against this tree, so a header missing
# here fails it.
set(HERALD_PUBLIC_HEADERS
    herald/gateway.hpp herald/stream_endpoint.hpp herald/channel_name.hpp
    app/stream_endpoint.hpp app/url_template.hpp
    core/result.hpp core/principal.hpp
    net/http_types.hpp
    route/url_template.hpp route/endpoint.hpp route/endpoint_template.hpp
    tenancy/channel_name.hpp)
foreach(h ${HERALD_PUBLIC_HEADERS})
  get_filename_component(dir ${h} DIRECTORY)
  install(FILES src/${h} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/herald/${dir} COMPONENT dev)
endforeach()

# Every Herald library the facade links, directly or not (found from the targets' link lists, so a
# new module is exported without a list to keep up).
function(herald_link_closure target out)
  set(seen ${${out}})
  get_target_property(libs ${target} LINK_LIBRARIES)
  foreach(lib ${libs})
    if(lib MATCHES "^herald_" AND TARGET ${lib} AND NOT lib IN_LIST seen)
      list(APPEND seen ${lib})
      herald_link_closure(${lib} seen)
    endif()
  endforeach()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()
set(HERALD_EXPORTED herald_herald)
herald_link_closure(herald_herald HERALD_EXPORTED)
install(TARGETS ${HERALD_EXPORTED} EXPORT herald-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/herald COMPONENT dev)
install(EXPORT herald-targets NAMESPACE herald:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald
        COMPONENT dev)
configure_package_config_file(cmake/heraldConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/heraldConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/heraldConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/heraldConfig.cmake ${PROJECT_BINARY_DIR}/heraldConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald COMPONENT dev)
