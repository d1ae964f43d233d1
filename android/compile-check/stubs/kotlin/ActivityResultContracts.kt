// COMPILE-ONLY STUB of androidx.activity:activity 1.9, androidx.activity.result.contract (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity.result.contract

import android.content.Context
import android.content.Intent
import android.net.Uri
import app.nyckel.compilestub.stub

abstract class ActivityResultContract<I, O> {
    abstract fun createIntent(context: Context, input: I): Intent

    abstract fun parseResult(resultCode: Int, intent: Intent?): O
}

class ActivityResultContracts private constructor() {
    class RequestPermission : ActivityResultContract<String, Boolean>() {
        override fun createIntent(context: Context, input: String): Intent = stub()

        override fun parseResult(resultCode: Int, intent: Intent?): Boolean = stub()
    }

    open class OpenDocument : ActivityResultContract<Array<String>, Uri?>() {
        override fun createIntent(context: Context, input: Array<String>): Intent = stub()

        override fun parseResult(resultCode: Int, intent: Intent?): Uri? = stub()
    }

    open class CreateDocument(mimeType: String) : ActivityResultContract<String, Uri?>() {
        override fun createIntent(context: Context, input: String): Intent = stub()

        override fun parseResult(resultCode: Int, intent: Intent?): Uri? = stub()
    }
}
