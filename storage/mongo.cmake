# MongoDB actors (storage/mongo.h), on Debian's libmongoc 1.23.
target_sources(actord_storage PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/mongo_actor.c
  ${CMAKE_CURRENT_LIST_DIR}/mongo_bson.c
  ${CMAKE_CURRENT_LIST_DIR}/mongo_conn.c
  ${CMAKE_CURRENT_LIST_DIR}/mongo_msg.c)
target_link_libraries(actord_storage PUBLIC PkgConfig::MONGOC)
# The /mongo routes (actors/app/mongo_routes.c) build mongo messages.
if(TARGET actord_app_routes)
  target_link_libraries(actord_app_routes PUBLIC actord_storage)
endif()
