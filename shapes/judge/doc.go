// Package judge is the shapes world's referee. It segments an image into objects (a fitted
// background plane and connected components, no learning) and names each object's class
// and texture with a small CNN trained only on rendered ground truth, then reports which
// shape classes the image shows and which textures appear on objects of which class. Evaluation uses it to score generated images (concept fidelity:
// the concept's texture on an object of its class; prompt fidelity: every asked class
// present; bleeding: a concept's texture on an object of another class) without ever
// training on generated images.
package judge
