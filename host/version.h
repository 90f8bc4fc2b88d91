/* version.h: the one place the version is written. */
#ifndef GL_VERSION_H
#define GL_VERSION_H
#define GREENLUA_VERSION "0.1.0"
#endif
