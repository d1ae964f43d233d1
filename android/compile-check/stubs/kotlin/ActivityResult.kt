// COMPILE-ONLY STUB of androidx.activity:activity 1.9, result contracts (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity.result

import app.nyckel.compilestub.stub

abstract class ActivityResultLauncher<I> {
    open fun launch(input: I): Unit = stub()

    abstract fun unregister()
}
