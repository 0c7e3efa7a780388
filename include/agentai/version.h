/* agentai/version.h — release version and plugin ABI version of the SDK. */
#pragma once

/** Release version of the agentai runtime these headers ship with. */
#define AGENTAI_VERSION_MAJOR 0
#define AGENTAI_VERSION_MINOR 1
#define AGENTAI_VERSION_PATCH 0
#define AGENTAI_VERSION_STRING "0.1.0"

/**
 * Plugin ABI version. The major changes when a structure or call changes
 * incompatibly (a plugin built for another major is refused); the minor grows
 * when fields are appended to the host table or to a descriptor (a plugin
 * built against a newer minor than the host is refused, an older one loads).
 */
#define AGENTAI_ABI_MAJOR 1
#define AGENTAI_ABI_MINOR 1
