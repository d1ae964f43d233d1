// COMPILE-ONLY STUBS for android/compile-check: none of these files is the real library, none
// is ever run or packaged. Each declares exactly the Android-only API the app uses from an
// androidx library that Maven Central does not serve, with the signatures of that library's
// public API, so the app's calls are type-checked against them. See android/README.md.
package app.nyckel.compilestub

/** The body of every stub: reaching it means a stub was run, which the compile check never does. */
fun stub(): Nothing = throw UnsupportedOperationException("compile-only stub of an androidx API")
