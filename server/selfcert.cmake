# berth_selfcert: --tls-self-signed's certificate (server/selfcert.h), OpenSSL
# only. A file of its own so that unit tests and fuzz targets build it without
# the rest of server/:
#   include(${CMAKE_SOURCE_DIR}/server/selfcert.cmake)
if(NOT TARGET berth_selfcert)
  add_library(berth_selfcert STATIC ${CMAKE_CURRENT_LIST_DIR}/selfcert.c)
  target_include_directories(berth_selfcert PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(berth_selfcert PUBLIC PkgConfig::OPENSSL)
endif()
