// COMPILE-ONLY STUB of androidx.camera:camera-core 1.4 (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.camera.core

import app.nyckel.compilestub.stub
import java.nio.ByteBuffer
import java.util.concurrent.Executor

abstract class UseCase internal constructor()

interface Camera

class CameraSelector private constructor() {
    companion object {
        @JvmField
        val DEFAULT_BACK_CAMERA: CameraSelector = CameraSelector()
    }
}

class SurfaceRequest private constructor()

class Preview private constructor() : UseCase() {
    fun interface SurfaceProvider {
        fun onSurfaceRequested(request: SurfaceRequest)
    }

    // Only the setter is public API; getSurfaceProvider() is @RestrictTo(LIBRARY_GROUP).
    fun setSurfaceProvider(surfaceProvider: SurfaceProvider?): Unit = stub()

    class Builder {
        fun build(): Preview = stub()
    }
}

interface ImageInfo {
    val rotationDegrees: Int
}

interface ImageProxy : AutoCloseable {
    interface PlaneProxy {
        val rowStride: Int
        val pixelStride: Int
        val buffer: ByteBuffer
    }

    val width: Int
    val height: Int
    val planes: Array<PlaneProxy>
    val imageInfo: ImageInfo
}

class ImageAnalysis private constructor() : UseCase() {
    fun interface Analyzer {
        fun analyze(image: ImageProxy)
    }

    fun setAnalyzer(executor: Executor, analyzer: Analyzer): Unit = stub()

    fun clearAnalyzer(): Unit = stub()

    class Builder {
        fun setBackpressureStrategy(strategy: Int): Builder = stub()

        fun setOutputImageFormat(outputImageFormat: Int): Builder = stub()

        fun build(): ImageAnalysis = stub()
    }

    companion object {
        const val STRATEGY_KEEP_ONLY_LATEST: Int = 0
        const val STRATEGY_BLOCK_PRODUCER: Int = 1
        const val OUTPUT_IMAGE_FORMAT_YUV_420_888: Int = 1
        const val OUTPUT_IMAGE_FORMAT_RGBA_8888: Int = 2
    }
}
