#ifndef BATCHLINE_COPENVINO_SHIM_H
#define BATCHLINE_COPENVINO_SHIM_H

// The headers come from the openvino PyPI wheel (.deps/openvino/include, passed
// with -Xcc -I in Package.swift); the library is linked there too, because its
// file name (libopenvino_c.so.2641) has no unversioned alias that `link` could name.
#include <openvino/c/openvino.h>

#endif
