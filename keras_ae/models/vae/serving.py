"""``VAEServing``, the export signatures of :class:`~keras_ae.models.vae.model.VAE` and the
facts recorded in an export's metadata."""

from __future__ import annotations

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, data_name, describe_data, image_endpoints,
                                       make_endpoint, sample_endpoint, tensor_spec, uint8_endpoint)
from keras_ae.models.vae.conditional_networks import LABELS
from keras_ae.random import stateless_pair


class VAEServing:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: ``serving_endpoints`` and ``serving_metadata``.

    It uses the VAE's ``posterior_params``, ``decode``, ``prior``, ``example_shape``,
    ``input_range``, ``latent_dim``, ``likelihood``, ``beta`` and ``prior_layer``, and holds no
    state of its own.

    Example:
        >>> from keras_ae.export import ExportOptions
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
        >>> [e.name for e in vae.serving_endpoints(ExportOptions())]
        ['reconstruct', 'encode', 'decode', 'sample', 'reconstruct_uint8', 'encode_uint8']
        >>> vae.serving_metadata()["latent_dim"], vae.serving_metadata()["likelihood"]
        (2, 'bernoulli')
    """

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``reconstruct`` (mean of p(x|z) at the posterior mean), ``encode`` (posterior
        ``mean`` and ``stddev``), ``decode`` (latents -> mean of p(x|z)), ``sample``
        (``count`` + ``seed`` -> images and their latents, the same draws as
        ``VAE.sample(count, seed)``), and ``*_uint8`` variants of the image inputs. A
        conditional VAE's signatures take int32 ``labels`` too (``sample``: ``count`` of them,
        the same images as ``VAE.sample(count, seed, labels=labels)``).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
            >>> [e.name for e in vae.serving_endpoints(ExportOptions())]
            ['reconstruct', 'encode', 'decode', 'sample', 'reconstruct_uint8', 'encode_uint8']
        """
        x = data_name(self.example_shape)
        if self.conditional:
            return self._conditional_endpoints(x, options)

        def reconstruct(**inputs):
            return {"reconstruction": self(inputs[x], training=False)}

        def encode(**inputs):
            mean, stddev = self.posterior_params(inputs[x])
            return {"mean": mean, "stddev": stddev}

        def decode(latents):
            return {x: self.decode(latents).mean()}

        def sample(count, seed):
            # VAE.sample's seeding (one shared function): the first of the two seeds draws z.
            z = self.prior.sample(count, seed=self.sample_seeds(stateless_pair(seed))[0])
            return {x: self.decode(z).mean(), "latents": z}

        functions = [("reconstruct", reconstruct, ["reconstruction"],
                      f"{x} -> reconstruction (decoded posterior mean)"),
                     ("encode", encode, [], f"{x} -> mean, stddev of q(z|x)")]
        generative = [make_endpoint("decode", decode, {"latents": tensor_spec((self.latent_dim,), "latents")},
                                    f"latents -> {x} (mean of p(x|z))"),
                      sample_endpoint(sample, f"{x}, latents", "z ~ prior")]
        return image_endpoints(x, self.example_shape, self.input_range, options, functions, generative)

    def _conditional_endpoints(self, x: str, options: ExportOptions) -> list:
        """The signatures of a conditional VAE: every one that runs a network takes int32 ``labels``
        ``(batch,)`` too (``sample``: one per image, ``count`` of them)."""
        classes = self.num_classes
        labels_spec = tf.TensorSpec((None,), tf.int32, name=LABELS)
        label_range = (0, classes - 1)

        def column(labels):
            # Checked here as well as by the signature: the *_uint8 twins carry no range checks of their own.
            message = f"`{LABELS}` must be class ids in [0, {classes - 1}] (num_classes={classes})."
            checks = [tf.debugging.assert_greater_equal(labels, 0, message=message),
                      tf.debugging.assert_less(labels, classes, message=message)]
            with tf.control_dependencies(checks):
                return tf.reshape(tf.identity(labels), [-1, 1])

        def reconstruct(**inputs):
            return {"reconstruction": self([inputs[x], column(inputs[LABELS])], training=False)}

        def encode(**inputs):
            mean, stddev = self.posterior_params(inputs[x], column(inputs[LABELS]))
            return {"mean": mean, "stddev": stddev}

        def decode(latents, labels):
            return {x: self.decode(latents, column(labels)).mean()}

        def sample(count, seed, labels):
            # VAE.sample's seeding (one shared function): the same seed draws the same z for any labels.
            z = self.prior.sample(count, seed=self.sample_seeds(stateless_pair(seed))[0])
            return {x: self.decode(z, column(labels)).mean(), "latents": z}

        specs = {x: tensor_spec(self.example_shape, x), LABELS: labels_spec}
        ranges = {x: self.input_range if options.check_values else None, LABELS: label_range}
        uint8 = options.uint8 if options.uint8 is not None else tuple(self.input_range or ()) == (0.0, 1.0)
        hint = f"Send 0-255 {x} to the *_uint8 signatures, or divide by 255." if uint8 else ""
        functions = [("reconstruct", reconstruct, ["reconstruction"],
                      f"{x}, labels -> reconstruction (decoded posterior mean)"),
                     ("encode", encode, [], f"{x}, labels -> mean, stddev of q(z|x, y)")]
        endpoints = [make_endpoint(name, fn, specs, doc, ranges, hint) for name, fn, _, doc in functions]
        endpoints += [make_endpoint("decode", decode, {"latents": tensor_spec((self.latent_dim,), "latents"),
                                                       LABELS: labels_spec},
                                    f"latents, labels -> {x} (mean of p(x|z, y))", {LABELS: label_range}),
                      sample_endpoint(sample, f"{x}, latents", "z ~ prior, x ~ p(x|z, y)", num_classes=classes)]
        if uint8:
            endpoints += [uint8_endpoint(f"{name}_uint8", fn, specs, [x], outputs,
                                         f"{doc}; uint8 [0, 255] {x} in" + (", uint8 out" if outputs else ""))
                          for name, fn, outputs, doc in functions]
        return endpoints

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, latent size, likelihood, prior."""
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "code_size": self.latent_dim,
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "beta": self.beta,
            "prior": "standard_normal" if self.prior_layer is None else type(self.prior_layer).__name__,
            "max_sample_count": MAX_SAMPLE_COUNT,
            **({"num_classes": self.num_classes} if self.conditional else {}),
        }
