# cmake -P cmake/write-package-config.cmake, run by scripts/install.sh after
# `cargo cinstall` (cargo-c writes no CMake package): writes
# <libdir>/cmake/pymemcache/pymemcacheConfig.cmake and
# pymemcacheConfigVersion.cmake with CMake's own helpers, so only the
# template beside this file is written by hand.
#
# -D variables (paths absolute, as installed, without DESTDIR):
#   PMC_PREFIX PMC_LIBDIR PMC_INCLUDEDIR   the install locations
#   PMC_VERSION                            the library version (X.Y.Z)
#   PMC_SONAME                             e.g. libpymemcache.so.0
#   PMC_STATIC_LIBS                        ;-list of system libraries for the .a
#   PMC_POINTER_BYTES                      4 or 8: size of a pointer of the target
#   PMC_DESTDIR                            optional staging directory
cmake_minimum_required(VERSION 3.16)
include(CMakePackageConfigHelpers)

foreach(var PMC_PREFIX PMC_LIBDIR PMC_INCLUDEDIR PMC_VERSION PMC_SONAME PMC_POINTER_BYTES)
  if("${${var}}" STREQUAL "")
    message(FATAL_ERROR "write-package-config.cmake: -D${var}=... is required")
  endif()
endforeach()

set(PMC_SHARED_FILE "libpymemcache.so.${PMC_VERSION}")
set(dest "${PMC_LIBDIR}/cmake/pymemcache")
set(out "${PMC_DESTDIR}${dest}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/pymemcacheConfig.cmake.in"
  "${out}/pymemcacheConfig.cmake"
  INSTALL_DESTINATION "${dest}"
  INSTALL_PREFIX "${PMC_PREFIX}"
  PATH_VARS PMC_INCLUDEDIR PMC_LIBDIR)

# The soname changes with the major version only, so any X.* satisfies a
# request for X.Y. The pointer size makes a 32-bit project refuse a 64-bit
# library (and the other way round).
set(CMAKE_SIZEOF_VOID_P "${PMC_POINTER_BYTES}")
write_basic_package_version_file(
  "${out}/pymemcacheConfigVersion.cmake"
  VERSION "${PMC_VERSION}"
  COMPATIBILITY SameMajorVersion)

message(STATUS "Installing: ${out}/pymemcacheConfig.cmake")
message(STATUS "Installing: ${out}/pymemcacheConfigVersion.cmake")
