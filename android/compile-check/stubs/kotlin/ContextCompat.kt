// COMPILE-ONLY STUB of androidx.core:core 1.13, androidx.core.content.ContextCompat (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.core.content

import android.content.Context
import app.nyckel.compilestub.stub
import java.util.concurrent.Executor

open class ContextCompat protected constructor() {
    companion object {
        @JvmStatic
        fun checkSelfPermission(context: Context, permission: String): Int = stub()

        @JvmStatic
        fun getMainExecutor(context: Context): Executor = stub()
    }
}
