-- The warehouse and Airflow's metadata live in two databases of one server.
CREATE DATABASE popdata;
CREATE DATABASE airflow;
