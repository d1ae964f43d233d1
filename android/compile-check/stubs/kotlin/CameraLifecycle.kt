// COMPILE-ONLY STUB of androidx.camera:camera-lifecycle 1.4 (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.camera.lifecycle

import android.content.Context
import androidx.camera.core.Camera
import androidx.camera.core.CameraSelector
import androidx.camera.core.UseCase
import androidx.lifecycle.LifecycleOwner
import app.nyckel.compilestub.stub
import com.google.common.util.concurrent.ListenableFuture

class ProcessCameraProvider private constructor() {
    fun bindToLifecycle(lifecycleOwner: LifecycleOwner, cameraSelector: CameraSelector, vararg useCases: UseCase): Camera = stub()

    fun unbindAll(): Unit = stub()

    companion object {
        @JvmStatic
        fun getInstance(context: Context): ListenableFuture<ProcessCameraProvider> = stub()
    }
}
