"""Writers of the toy world in the official raw formats, one module per distributed data set.

yfcc100m (YFCC100M, its 23-column sample and MP-16), test_sets (Im2GPS3k, YFCC4k) and gldv2
(Google Landmarks v2) each write the files of their data set exactly as it is distributed (the
builders' READMEs in tfds_builders/ describe them); rows holds the per-photo lines that several
of them share, files the counting writer they all write through.
"""
