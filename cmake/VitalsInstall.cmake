# install(): the library, its public headers, a CMake package
# (find_package(vitals) -> vitals::vitals) and vitals.pc.
include(CMakePackageConfigHelpers)

install(TARGETS vitals vitals_proto EXPORT vitalsTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/vitals DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT vitalsTargets NAMESPACE vitals::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vitals)

configure_package_config_file(cmake/vitalsConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/vitalsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vitals)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vitalsConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vitalsConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/vitalsConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vitals)

# vitals.pc finds the prefix relative to itself, so the tree can move.
file(RELATIVE_PATH VITALS_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/vitals.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vitals.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vitals.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
