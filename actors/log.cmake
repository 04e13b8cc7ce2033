# Config helper's modules in actord_actors: the log actor, daemon mode
# (pidfile, double fork, readiness) and the signal-driven control loop.
# Included by actors/CMakeLists.txt.
target_sources(actord_actors PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/log.c
  ${CMAKE_CURRENT_LIST_DIR}/daemon.c
  ${CMAKE_CURRENT_LIST_DIR}/signals.c)
target_link_libraries(actord_actors PUBLIC actord_config)
